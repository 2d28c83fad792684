// Where the relay is. In DevTools, "Details → Local settings → Do not verify valid domain
// names" (urlCheck: false in project.config.json) allows http://127.0.0.1; on a phone the
// relay must be https/wss on a domain listed in the mini-program's server domains.
const relay = 'http://127.0.0.1:8080';

module.exports = {
  loginUrl: `${relay}/weapp/login`,
  tunnelUrl: `${relay}/weapp/tunnel`,
  userUrl: `${relay}/weapp/user`,
};
