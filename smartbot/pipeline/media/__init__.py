"""Images, voice notes and files users send: read for one turn of the chat action (intake.py),
their type taken from their bytes (sniff.py), text files read as text (text.py)."""
