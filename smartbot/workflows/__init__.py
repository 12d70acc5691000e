"""Named multi-step workflows: YAML definitions (definition.py) with sandboxed templates
(templates.py), durable runs worked step by step on the job system (store.py, engine.py, steps.py,
jobs.py), started from chat, the admin API or cron schedules (runs.py, schedules.py, cron.py)."""
