"""Django's database sessions, with the statements a login does not need left out.

A new session's key is not looked up before its INSERT (the INSERT fails on a clash, and Django's
`create()` then draws another); a login's new key is written once, when the response saves the
session, instead of an empty row at once and an UPDATE later; the old row goes in one DELETE instead
of a SELECT and a DELETE. A login's session went from five statements to two.
"""
