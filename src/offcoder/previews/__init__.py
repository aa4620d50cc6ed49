"""Previews (C7): a preview job's port served at its project's own host name under the preview
domain, private to its owner unless shared. `labels` names a project's host, `passes` lets a
browser in, `edge` serves it."""
