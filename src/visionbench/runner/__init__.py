"""What train.py and evaluate.py call: build objects from the config, run Lightning, write the run directory."""

from visionbench.runner.run_dir import register_resolvers

register_resolvers()
