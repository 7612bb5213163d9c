"""Stage: publish a built release (``push.push_dataset``) and re-insert withheld text (``rehydrate.run_rehydrate``)."""
