"""The operator console: a small web app in `static/` (its page, scripts, styles and the vendored charting
library), served by the gateway itself (`http/console.py`) and fed only by the admin JSON APIs the CLI uses
too. No Python lives here: the files ship in the package, and nothing is fetched at run time."""
