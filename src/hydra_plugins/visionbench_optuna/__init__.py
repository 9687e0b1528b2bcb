"""visionbench's Hydra sweeper plugins (Hydra only loads sweepers from the ``hydra_plugins`` namespace package)."""
