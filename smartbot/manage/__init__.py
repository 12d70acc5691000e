"""Managing what admins change at run time (users, identities, roles, rules, ...), shared by the
admin API and the admin page so both validate, store and audit a change the same way."""
