"""Import of task tables (CSV, XLSX) into documents and tasks.

`parse_file` reads a file without touching the database; `import_file`
also matches agencies and stores every document through the service, the
whole file or nothing. `report` renders the outcome as text or JSON.
"""
