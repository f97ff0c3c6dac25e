"""A party's own data: its table, column rules, its model file, the demo's data split."""
