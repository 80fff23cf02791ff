package dockerfile

import (
	"errors"

	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/gantry/gantry/internal/limit"
)

// maxExpansion bounds the bytes of variable values substituted by the
// expansions of one stage (a Scope), and apart by those of the global ARGs
// and FROM lines (a Plan). Without it, `ENV A=$A$A` repeated 40 times asks
// for a terabyte; with it the expansions of a stage hold at most about
// this much memory, and config documents stay within limit.Document.
const maxExpansion = limit.Document

// errExpansion is the error for an expansion past maxExpansion.
var errExpansion = errors.New("variable expansion exceeds the limit of " + limit.Text)

// budget counts down the bytes of variable values substituted.
type budget struct {
	left int
	over bool
}

func newBudget() *budget { return &budget{left: maxExpansion} }

// env wraps e so that every value read through it is charged to b; past
// the budget it reads as empty and b is over.
func (b *budget) env(e shell.EnvGetter) shell.EnvGetter { return boundedEnv{e, b} }

// check is errExpansion once b is over.
func (b *budget) check() error {
	if b.over {
		return errExpansion
	}
	return nil
}

type boundedEnv struct {
	shell.EnvGetter
	b *budget
}

func (e boundedEnv) Get(key string) (string, bool) {
	v, ok := e.EnvGetter.Get(key)
	if e.b.over || len(v) > e.b.left {
		e.b.over = true
		return "", ok
	}
	e.b.left -= len(v)
	return v, ok
}
