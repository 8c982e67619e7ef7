// A Go program with a known call chain (main → handleRequest → parse → hotLoop | coldLoop),
// for the stripped-Go symbolisation tests: built with and without -ldflags="-s -w".
package main

import (
	"os"
	"strconv"
	"time"
)

var sink uint64

//go:noinline
func hotLoop(n int) uint64 {
	var x uint64 = 1
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + uint64(i)
	}
	return x
}

//go:noinline
func coldLoop(n int) uint64 {
	var x uint64 = 7
	for i := 0; i < n; i++ {
		x ^= x<<13 + uint64(i)
	}
	return x
}

// step is small enough to be inlined into parse: its frame exists only in the inline tree.
func step(x uint64) uint64 { return x*31 + 7 }

//go:noinline
func parse(round int) uint64 {
	v := step(uint64(round))
	if round%4 == 0 {
		return v + coldLoop(400000)
	}
	return v + hotLoop(1200000)
}

//go:noinline
func handleRequest(round int) {
	sink += parse(round)
}

func main() {
	seconds := 30.0
	if len(os.Args) > 1 {
		if s, err := strconv.ParseFloat(os.Args[1], 64); err == nil {
			seconds = s
		}
	}
	deadline := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	for round := 0; time.Now().Before(deadline); round++ {
		handleRequest(round)
	}
}
