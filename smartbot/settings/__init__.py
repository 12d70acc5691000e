"""Settings: smartbot.toml and SMARTBOT_* variables read once into typed sections, checked, provisioned
into the database, and checked again by `smartbot check-config`."""
