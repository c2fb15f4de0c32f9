// The peer of the `socketio` benchmark (server/benches/socketio.rs): Taskwire's
// `personal` shape on socket.io 4.8.4. `POST /api/tasks` (bearer token = a user name,
// body {title}) creates an in-memory task and emits it to the user's room as
// `event` {topic, seq, change: {op: "upsert", item}}; sockets (WebSocket only)
// authenticate with `auth: {token}` and join the room of that user.
// Run: node server.js [PORT] (0, the default, picks a free port); it prints
// `listening on PORT`. socket.io is installed into target/socketio by the benchmark.
"use strict";

const http = require("node:http");
const { randomUUID } = require("node:crypto");
const { Server } = require("socket.io");

const users = new Map(); // user name -> { seq, tasks: Map(id -> task) }
const userOf = (name) => {
  let user = users.get(name);
  if (!user) {
    user = { seq: 0, tasks: new Map() };
    users.set(name, user);
  }
  return user;
};
const VALID = /^[A-Za-z0-9_-]{1,64}$/;

const server = http.createServer((req, res) => {
  if (req.method !== "POST" || req.url !== "/api/tasks") {
    // socket.io answers its own path; anything else is not ours.
    if (!req.url.startsWith("/socket.io/")) res.writeHead(404).end();
    return;
  }
  const auth = req.headers.authorization || "";
  const name = auth.startsWith("Bearer ") ? auth.slice(7) : "";
  if (!VALID.test(name)) return void res.writeHead(401).end();
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (chunk) => {
    body += chunk;
    if (body.length > 65536) req.destroy();
  });
  req.on("end", () => {
    let title;
    try {
      title = JSON.parse(body).title;
    } catch {
      return void res.writeHead(400).end();
    }
    if (typeof title !== "string" || title.length === 0 || title.length > 500) {
      return void res.writeHead(422).end();
    }
    const user = userOf(name);
    const now = new Date().toISOString();
    const item = {
      id: randomUUID(), title, done: false, version: 1,
      created_at: now, updated_at: now, updated_by: name,
    };
    user.tasks.set(item.id, item);
    user.seq += 1;
    const json = JSON.stringify(item);
    res.writeHead(201, { "content-type": "application/json" }).end(json);
    io.to(name).emit("event", { topic: "tasks", seq: user.seq, change: { op: "upsert", item } });
  });
});

const io = new Server(server, { transports: ["websocket"], serveClient: false });
io.use((socket, next) => {
  const token = socket.handshake.auth && socket.handshake.auth.token;
  if (typeof token !== "string" || !VALID.test(token)) return next(new Error("unauthorized"));
  socket.data.user = token;
  next();
});
io.on("connection", (socket) => socket.join(socket.data.user));

server.listen(Number(process.argv[2] || 0), "127.0.0.1", () => {
  console.log(`listening on ${server.address().port}`);
});
