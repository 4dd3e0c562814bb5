from whalefall.formats.iso import *  # noqa: F403 - every language shows dates the same ISO way
