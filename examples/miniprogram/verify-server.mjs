// The site's verification service for the sample, i.e. the relay's --auth-verify-url
// (delegated login). The relay POSTs {"headers": {"X-WX-Code", "X-WX-Encrypted-Data"?,
// "X-WX-IV"?}} signed with X-Cometa-Signature: sha256=<HMAC-SHA256(secret, body)>; this
// answers {"user_id", "userinfo"} to admit, anything else to refuse.
//
//   WX_APPID=… WX_SECRET=… COMETA_WEBHOOK_SECRET=s3cret node examples/miniprogram/verify-server.mjs
//   cometa-relay --webhook-secret s3cret --auth-verify-url http://127.0.0.1:8090/verify
//
// With WX_APPID and WX_SECRET (your mini-program's AppSecret), codes are traded with WeChat's
// code2session and the user id is the openid; the user info in X-WX-Encrypted-Data is
// decrypted with the session_key. Without them (DevTools with a test AppID) every code is
// admitted as the user `devtools-user`: for trying the sample only.
import { createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const secret = process.env.COMETA_WEBHOOK_SECRET;
const port = Number(process.env.PORT || 8090);
const { WX_APPID: appid, WX_SECRET: appSecret } = process.env;
if (!secret) {
  console.error('set COMETA_WEBHOOK_SECRET to the relay --webhook-secret (or its API key)');
  process.exit(1);
}

async function code2session(code) {
  if (!appid || !appSecret) return { openid: 'devtools-user' };
  const q = new URLSearchParams({ appid, secret: appSecret, js_code: code, grant_type: 'authorization_code' });
  const res = await fetch(`https://api.weixin.qq.com/sns/jscode2session?${q}`);
  return res.json(); // {openid, session_key, unionid?} or {errcode, errmsg}
}

function decrypt(sessionKey, encryptedData, iv) {
  const d = createDecipheriv('aes-128-cbc', Buffer.from(sessionKey, 'base64'), Buffer.from(iv, 'base64'));
  const info = JSON.parse(Buffer.concat([d.update(Buffer.from(encryptedData, 'base64')), d.final()]).toString('utf8'));
  if (info.watermark?.appid !== appid) throw new Error('watermark appid mismatch');
  return info;
}

createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', async () => {
    const reply = (status, obj) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(obj));
    };
    const expected = 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
    const got = String(req.headers['x-cometa-signature'] || '');
    if (got.length !== expected.length || !timingSafeEqual(Buffer.from(got), Buffer.from(expected))) return reply(403, {});
    try {
      const h = JSON.parse(body).headers || {};
      const s = await code2session(h['X-WX-Code']);
      if (!s.openid) return reply(401, { error: s.errmsg || 'invalid code' });
      let userinfo = { openId: s.openid };
      if (s.session_key && h['X-WX-Encrypted-Data'] && h['X-WX-IV']) {
        const info = decrypt(s.session_key, h['X-WX-Encrypted-Data'], h['X-WX-IV']);
        userinfo = { openId: s.openid, nickName: info.nickName, avatarUrl: info.avatarUrl };
      }
      reply(200, { user_id: s.openid, userinfo });
    } catch (e) {
      reply(401, { error: e.message });
    }
  });
}).listen(port, '127.0.0.1', () => console.log(`verification service on http://127.0.0.1:${port}/verify`));
