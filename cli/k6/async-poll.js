// async-poll: one coupon of stock 100,000, 300 VUs for 14 minutes; each
// issues (202), polls the status every 200 ms until ISSUED (at most 150
// times), then thinks 3.4 s (cli/scenarios/async-poll.json).
//   k6 run -e DIBS_ADMIN_TOKEN=... cli/k6/async-poll.js
import { sleep } from 'k6';
import { createCoupons, issue, randomInt, status } from './common.js';

export const options = { vus: 300, duration: '14m' };

export function setup() {
  return { ids: createCoupons('k6-async-poll', 1, 100000, 1000) };
}

export default function (data) {
  const coupon = data.ids[0];
  const user = randomInt(1, 1000000);
  if (issue(coupon, user, false).status === 202) {
    for (let polls = 0; polls < 150; polls++) {
      sleep(0.2);
      const res = status(coupon, user);
      if (res.status !== 200 || res.json('status') === 'ISSUED') break;
    }
  }
  sleep(3.4);
}
