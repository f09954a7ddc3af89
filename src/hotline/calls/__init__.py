"""L3: call control, a B2BUA: every call is legs plus one controller."""
