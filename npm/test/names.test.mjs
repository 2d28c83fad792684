// Web names: a login without credentials fails with ERR_CREDENTIALS_FAILED (a page has no
// wx.login); Wafer's ERR_WX_LOGIN_FAILED is an alias of it, so Wafer code keeps matching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import qcloud, { login, setCodeProvider, RequestError, ERR_CREDENTIALS_FAILED, ERR_WX_LOGIN_FAILED } from 'cometa';

test('a login with no way to get credentials is ERR_CREDENTIALS_FAILED, alias ERR_WX_LOGIN_FAILED', async () => {
  assert.equal(ERR_CREDENTIALS_FAILED, 'ERR_CREDENTIALS_FAILED');
  assert.equal(ERR_WX_LOGIN_FAILED, ERR_CREDENTIALS_FAILED);
  assert.equal(qcloud.ERR_WX_LOGIN_FAILED, ERR_CREDENTIALS_FAILED);
  const loginUrl = 'http://127.0.0.1:1/weapp/login';
  await assert.rejects(login({ loginUrl }), (e) => e instanceof RequestError && e.type === 'ERR_CREDENTIALS_FAILED' && /no credentials/.test(e.message));
  setCodeProvider(() => {
    throw new Error('the back end is down');
  });
  await assert.rejects(login({ loginUrl }), (e) => e.type === qcloud.ERR_WX_LOGIN_FAILED && /login provider failed/.test(e.message));
  setCodeProvider(null);
});
