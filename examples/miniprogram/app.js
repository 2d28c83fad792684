// The package after "Build npm" (miniprogram_npm/cometa): the same API as Wafer's SDK.
const qcloud = require('cometa');
const config = require('./config');

App({
  onLaunch() {
    qcloud.setLoginUrl(config.loginUrl);
    // Optional: instantiate the WebAssembly module now rather than on first use.
    qcloud.ready().catch((e) => console.error('cometa did not load', e));
  },
});
