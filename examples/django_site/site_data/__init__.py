"""Test support for the example site: ``manage.py site_data`` reads and seeds the site's data for the end-to-end
tests and the benchmarks, as JSON on stdout, so that none of them passes Python source to ``manage.py shell`` (where
no linter or type checker sees it). Not part of the shipped app; a real project needs none of it."""
