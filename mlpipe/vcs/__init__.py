"""Git: what mlpipe asks of the repository (gitinfo) and the hooks it installs."""
