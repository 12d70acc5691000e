"""Managing what admins change at run time (users, identities, roles, rules, providers and model
routes, commands and approvals, workflows and schedules), shared by the admin API and the admin
page so both validate (fields.py), store and audit a change the same way.

Plain data in and out: the runtime or the database, the caller's Principal and the values; a
refusal is a manage.errors exception that each face shows its own way. Never Flask here, and
never api/ or admin/: they import this, not the other way round."""
