package container

import (
	"fmt"
	"math/rand/v2"
)

var (
	adjectives = []string{"admiring", "brave", "busy", "clever", "dazzling", "eager", "epic", "festive",
		"focused", "gallant", "happy", "jolly", "keen", "kind", "laughing", "lucid", "modest", "nifty",
		"optimistic", "peaceful", "quirky", "relaxed", "serene", "sharp", "stoic", "tender", "upbeat",
		"vibrant", "wizardly", "zealous"}
	scientists = []string{"babbage", "bohr", "curie", "darwin", "dijkstra", "einstein", "euclid", "fermi",
		"feynman", "galileo", "goldberg", "hopper", "hypatia", "kepler", "knuth", "lamport", "lovelace",
		"mccarthy", "meitner", "newton", "noether", "pascal", "ritchie", "shannon", "thompson", "turing",
		"wozniak", "yalow"}
)

// freeNameLocked picks a Docker-style adjective_scientist name not in use.
// The caller holds s.mu.
func (s *Store) freeNameLocked() string {
	for i := 0; ; i++ {
		name := adjectives[rand.IntN(len(adjectives))] + "_" + scientists[rand.IntN(len(scientists))]
		if i > 10 {
			name += fmt.Sprint(rand.IntN(100))
		}
		if _, taken := s.names[name]; !taken {
			return name
		}
	}
}
