"""Assessment of tasks: evaluations, inspection findings, attachments and assignment."""
