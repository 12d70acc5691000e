"""The guarded command executor: a catalogue of allowed commands, typed parameters, a runner with no
shell, and approval requests. Plain data in, plain data out: no Flask, no channels, no router.

It never runs a shell, never joins arguments into a command line, and never decides who may run
what: permissions are checked by the caller (handlers) through auth.rbac before anything here runs.
"""
