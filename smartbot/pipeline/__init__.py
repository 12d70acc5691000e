"""Steps 7-10 of the message path: who is asking, which rule answers, whether they may, the
handler's work, the outcome stored with its replies in one transaction, and their delivery."""
