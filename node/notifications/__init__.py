"""Warnings of due and overdue tasks (Điều 18.1.d) and their delivery: in the app, by
e-mail and by signed webhooks."""
