import type { ActivityDeps } from './deps';
import { hostActivities } from './hosts';
import { jobActivities } from './jobs';
import { notifyActivities } from './notify';
import { prepareActivities } from './prepare';
import { promoteActivities } from './promote';
import { reaperActivities } from './reaper';
import { scoreActivities } from './score';
import type { Activities } from './types';

export function createActivities(deps: ActivityDeps): Activities {
  return {
    ...prepareActivities(deps),
    ...hostActivities(deps),
    ...jobActivities(deps),
    ...scoreActivities(),
    ...promoteActivities(deps),
    ...reaperActivities(),
    ...notifyActivities(deps),
  };
}
