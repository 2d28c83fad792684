// Logs in with wx.login (+ wx.getUserInfo) through the relay's delegated auth, then opens a
// tunnel and shows what arrives. Push to it from your back end:
//   curl -X POST http://127.0.0.1:8080/api/v1/users/<user id>/messages \
//     -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
//     -d '{"event":"news","data":{"text":"hello"}}'
const qcloud = require('cometa');
const config = require('../../config');

Page({
  data: { status: 'signed out', user: null, busy: false, tunnelOpen: false, log: [] },

  say(line) {
    this.setData({ log: [new Date().toLocaleTimeString() + ' ' + line].concat(this.data.log).slice(0, 50) });
  },

  login() {
    this.setData({ busy: true, status: 'logging in' });
    qcloud.login({
      success: (user) => {
        this.setData({ user, busy: false, status: 'signed in' });
        this.say('userinfo ' + JSON.stringify(user));
      },
      fail: (err) => {
        this.setData({ busy: false, status: 'login failed' });
        this.say('login failed: ' + err.type + ' ' + err.message);
      },
    });
  },

  openTunnel() {
    const tunnel = new qcloud.Tunnel(config.tunnelUrl);
    tunnel.on('connect', () => {
      this.setData({ tunnelOpen: true, status: 'tunnel open' });
      this.say('tunnel open');
    });
    tunnel.on('reconnecting', () => this.setData({ status: 'reconnecting' }));
    tunnel.on('reconnect', () => this.setData({ status: 'tunnel open' }));
    tunnel.on('close', () => this.setData({ tunnelOpen: false, status: 'tunnel closed' }));
    tunnel.on('error', (e) => this.say('tunnel error ' + e.code + ': ' + e.message));
    tunnel.on('*', (type, payload) => {
      if (!['connect', 'close', 'reconnecting', 'reconnect', 'error'].includes(type)) {
        this.say(type + ' ' + JSON.stringify(payload));
      }
    });
    tunnel.open();
    this.tunnel = tunnel;
  },

  sendHello() {
    this.tunnel.emit('hello', { at: Date.now() });
  },

  closeTunnel() {
    this.tunnel.close();
  },

  onUnload() {
    if (this.tunnel) this.tunnel.close();
  },
});
