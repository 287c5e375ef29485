// A POS issuing one invoice on ksef-edge over the shop's LAN (Node 18+, no packages):
// TLS with a pinned SHA-256 fingerprint (`ksef-edge tls show`), an Idempotency-Key, retry on timeout.
//
//   node pos_client.mjs --url https://kasa.sklep.lan:8787 --fingerprint AB:CD:... \
//        --token-file till-token --body invoice.json [--key RECEIPT-123]
//
// The certificate is compared with the pin before the token or any data is sent; every attempt uses the
// same Idempotency-Key, so a retry after a timeout returns the invoice already issued (never a second one).
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import https from "node:https";
import tls from "node:tls";

function args() {
  const out = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, "")] = argv[i + 1];
  return out;
}

function pinnedSocket(host, port, pin, timeoutMs) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, rejectUnauthorized: false, servername: undefined }, () => {
      const got = socket.getPeerCertificate().fingerprint256;
      if (got !== pin.toUpperCase()) {
        socket.destroy();
        reject(Object.assign(new Error(`certificate fingerprint ${got} is not the pinned one`), { pin: true }));
      } else resolve(socket);
    });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error("timeout")));
    socket.on("error", reject);
  });
}

async function once(url, pin, token, body, key, timeoutMs) {
  const u = new URL(url);
  const socket = await pinnedSocket(u.hostname, Number(u.port || 443), pin, timeoutMs);
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: u.hostname, port: u.port, method: "POST", path: "/v1/invoices",
      createConnection: () => socket, timeout: timeoutMs,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", "Idempotency-Key": key,
                 Host: u.host, "Content-Length": Buffer.byteLength(body) },
    }, (res) => {
      let data = "";
      res.on("data", (c) => (data += c));
      res.on("end", () => resolve({ status: res.statusCode, replayed: res.headers["idempotent-replayed"] === "true",
                                    body: JSON.parse(data || "{}") }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

async function main() {
  const a = args();
  const token = readFileSync(a["token-file"], "utf8").trim();
  const body = readFileSync(a.body, "utf8");
  const key = a.key || randomUUID();
  const timeoutMs = Number(a.timeout || 10) * 1000;
  for (let attempt = 1; attempt <= 4; attempt++) {
    try {
      const r = await once(a.url, a.fingerprint, token, body, key, timeoutMs);
      console.log(JSON.stringify(r));
      process.exit(r.status === 201 ? 0 : 1);
    } catch (e) {
      if (e.pin) { console.error(`error: ${e.message}`); process.exit(2); }
      console.error(`attempt ${attempt} failed (${e.message}); retrying with the same Idempotency-Key`);
      await new Promise((r) => setTimeout(r, Math.min(2000, 200 * 2 ** attempt)));
    }
  }
  console.error("error: the device did not answer");
  process.exit(2);
}

main();
