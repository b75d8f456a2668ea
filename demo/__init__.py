"""``cityhub demo``: the demo's composition root (a simulated city, every service of the
hub in one process). It imports the hub's packages; nothing imports it."""
