"""Built-in architecture plugins: what cnnvis knows about vision transformers, Swin and ConvNeXt.

Each module implements the public ``cnnvis_architecture`` hook, exactly as a third-party plugin
would, and recognises its architecture by structure (which modules sit where), not by class name,
so subclasses, renamed attributes and fine-tuned copies with a new head are recognised too.
"""
