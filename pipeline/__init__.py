"""Building the Beam pipeline from options, and the `parabeam` command line."""
