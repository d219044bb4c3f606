"""The HTTP face of the ledger and the trial (``her2map serve``): :mod:`.app` (FastAPI routes),
:mod:`.tokens` (per-user tokens bound to a site and a role) and :mod:`.client` (the CLI's remote
mode). It authenticates, authorises and calls the same Python API as the CLI; it computes no
statistic (DESIGN.md, "the server is a face like the CLI")."""
