package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/basketassist/basketassist/internal/redisinfo"
)

// cpuSplit adds up the CPU time each process spent while one side of the
// send figure ran, so that the bench can say what bounds that figure: the
// machine is saturated, and the sides share the sink (in this process)
// and redis-server.
type cpuSplit struct {
	service, redis, bench time.Duration
	reminders             int
	clock                 cpuClock // which processes were read
	// What redis-server ran meanwhile (INFO commandstats): scripts, the
	// time spent in them, and commands of every kind, those that scripts
	// call included. Zero for a side that runs no commands.
	scripts, commands int64
	scriptTime        time.Duration
}

// cpuClock reads the CPU time of the processes one measurement involves; a
// pid of 0 (redis-server on another host, no service) reads as zero.
type cpuClock struct{ service, redis int }

type cpuReading struct{ service, redis, bench time.Duration }

func (c cpuClock) read() cpuReading {
	return cpuReading{service: cpuTime(c.service), redis: cpuTime(c.redis), bench: cpuTime(os.Getpid())}
}

// add counts what happened between from and now, for n reminders.
func (s *cpuSplit) add(c cpuClock, from cpuReading, n int) {
	now := c.read()
	s.service += now.service - from.service
	s.redis += now.redis - from.redis
	s.bench += now.bench - from.bench
	s.reminders += n
	s.clock = c
}

// String is the CPU per reminder of each process, in µs.
func (s cpuSplit) String() string {
	if s.reminders == 0 {
		return "-"
	}
	per := func(d time.Duration) string {
		return strconv.FormatInt(d.Microseconds()/int64(s.reminders), 10)
	}
	parts := []string{}
	if s.clock.service > 0 {
		parts = append(parts, "service "+per(s.service))
	}
	if s.clock.redis > 0 {
		parts = append(parts, "redis-server "+per(s.redis))
	}
	parts = append(parts, "bench process "+per(s.bench))
	out := fmt.Sprintf("%s = %s µs", strings.Join(parts, " + "), per(s.service+s.redis+s.bench))
	if s.scripts > 0 {
		n := float64(s.reminders)
		out += fmt.Sprintf(" (Redis per reminder: %.1f scripts taking %s µs, %.1f commands in all)",
			float64(s.scripts)/n, per(s.scriptTime), float64(s.commands)/n)
	}
	return out
}

// addCommands adds what INFO commandstats counted since its last reset.
func (s *cpuSplit) addCommands(ctx context.Context, rdb *redis.Client) {
	stats, err := redisinfo.Commands(ctx, rdb)
	if err != nil {
		return
	}
	for name, c := range stats {
		s.commands += c.Calls
		if name == "evalsha" || name == "eval" {
			s.scripts += c.Calls
			s.scriptTime += time.Duration(c.Usec) * time.Microsecond
		}
	}
}

// cpuTime is the user and system time process pid has used so far (0 when
// it cannot be read: no such process here).
func cpuTime(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: the fields that follow it are
	// counted from its closing parenthesis (proc(5): utime, stime are 14, 15).
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is USER_HZ, which is 100 on every Linux architecture Go
// supports.
const clockTicks = 100

// redisPID is redis-server's process id, when it runs on this machine.
func redisPID(ctx context.Context, rdb *redis.Client) int {
	v, _ := redisinfo.Field(ctx, rdb, "server", "process_id")
	pid, _ := strconv.Atoi(v)
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err != nil || !strings.HasPrefix(string(comm), "redis") {
		return 0
	}
	return pid
}
