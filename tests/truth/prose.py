"""Prose whose every sentence is different, so that a word out of place,
missing or repeated shows in the word-order similarity."""

import random

_WORD_LIST = """
amber anchor apricot arch atlas autumn badger ballad banner barley basin
beacon birch bishop blossom bramble breeze bridge brook bucket cabin canal
candle canyon caravan cedar cellar chapel charcoal chestnut cider cinder
circus citadel clover cobalt comet compass copper coral cottage crater
crystal cypress dagger dawn delta desert dinghy dolphin dove dragon drum
dune eagle ember emerald falcon fern ferry fiddle fjord flint forest
fountain fox garnet geyser glacier glade goblet granite grove gull harbour
harvest hazel heath heron hollow honey horizon island ivory jasmine juniper
kestrel kettle lagoon lantern larch lattice ledger lemon lighthouse lily
linen lodge lotus lynx magpie maple marble marsh meadow mill mint mist moor
moss nectar nettle oak oasis ochre olive onyx orchard otter owl paddock
pebble pepper pewter pine plum pond poppy quarry quill quince raven reef
ridge river robin saddle saffron sage salmon sapphire scarlet shingle
silver slate sparrow spruce starling stone summit swallow tartan thistle
thrush tide timber topaz tower tulip tundra valley velvet violet walnut
willow winter wren yarrow zephyr
"""
WORDS = _WORD_LIST.split()


def sentences(seed: int, count: int, *, words: tuple[int, int] = (8, 14)) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        chosen = rng.sample(WORDS, rng.randint(*words))
        out.append(" ".join(chosen).capitalize() + ".")
    return out


def paragraphs(seed: int, count: int, *, sentences_each: int = 4) -> list[str]:
    flat = sentences(seed, count * sentences_each)
    return [" ".join(flat[i : i + sentences_each]) for i in range(0, len(flat), sentences_each)]
