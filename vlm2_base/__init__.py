"""The bottom layer: what every other package may use and that uses none of them.

- :mod:`vlm2_base.io`: atomic file writes (temporary file in the same folder, then ``os.replace``,
  with the normal permissions of a new file), stable JSON text, PNG figures.
- :mod:`vlm2_base.logger`: experiment logging (wandb offline by default, or nothing).

Layers, bottom to top (``tests/test_layers.py`` fails on an import that points up):
``vlm2_base`` < ``scenes`` < ``envs`` < ``vlm2_agent.eqa`` < ``vlm2_agent.model`` <
``vlm2_agent.training`` and ``vlm2_agent.policy`` < ``vlm2_agent.cli``.
"""
