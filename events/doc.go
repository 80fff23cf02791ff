// Package events is gantryd's event bus: the daemon publishes what happens
// to containers, images, networks and volumes, in dockerd's message shape,
// and GET /events streams it, replaying a bounded history for `since`.
package events
