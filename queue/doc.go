// Package queue will hold Hotline's hold queues, agents, strategies, estimated wait and the
// callback policy, as pure logic over an explicit `now` (STYLE.md P1, B2). Durable state will
// live in queue/store. Nothing is built yet: queues are the subject of their own issue.
//
// queue must not import net, any goroutine-starting code, time.Now, or any other project
// package (menus in particular: ivr translates between them, STYLE.md P4).
package queue
