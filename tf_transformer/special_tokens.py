"""Ids of the special tokens that every vocabulary of the project starts with."""

PAD_ID = 0
UNK_ID = 1
BOS_ID = 2
EOS_ID = 3
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[START]", "[END]")
