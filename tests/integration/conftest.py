"""Makes playbook_kit (the helpers the playbook-driving tests share) importable."""
