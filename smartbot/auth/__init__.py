"""Authorization: permissions as data, one check with a reason, identities bound to users."""
