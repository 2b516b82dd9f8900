"""EchoFS consistency controller: measures, decides a mode per object, persists, publishes."""
