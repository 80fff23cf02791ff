package builder

import "syscall"

type syscallStat = syscall.Stat_t
