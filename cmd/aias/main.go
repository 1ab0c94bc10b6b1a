// Command aias is the single AIAS binary; its subcommands are the roles (manager, ...).
package main

import (
	"os"

	"github.com/aias-dev/aias/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
