"""The scaffold wing: answers -> Copier -> lifecycle commands, git.

It never imports the validate wing's internals: a lifecycle command that validates the fleet
calls ``flux_fleet.validate.validate``.
"""
