"""The console scripts, thin: parse the command line, call the library, report errors.

``train``, ``eval``, ``runs``, ``enhance``, ``export``, ``data``, ``archs`` are
``restorelab-<name>``; ``common`` turns user-facing errors into one line and exit code 2.
"""
