// The job page (templates/job.html): the same output view as the Run pane, live while the job
// runs; "Run again with preview" starts the same command with preview mode on that port and
// opens the new job's page.
import { api } from "./lib/api.js";
import { OutputView } from "./run/output.js";
import { isEnded } from "./run/command.js";

const root = document.getElementById("output");
if (root && root.dataset.jobId) {
  const view = new OutputView(root, {
    onPreviewWanted: async (port, job) => {
      try {
        if (!isEnded(job.status)) { await api.post(`/v1/jobs/${job.id}/cancel`); }
        const accepted = await api.post(`/v1/projects/${job.project_id}/jobs`, {
          command: job.command, image: job.image, timeout_s: job.timeout_s,
          network: "preview", ports: [port],
        });
        window.location.assign(`/console/jobs/${accepted.id}`);
      } catch (error) {
        view.note(`The job could not be started again: ${error.message}`);
      }
    },
  });
  api.get(`/v1/jobs/${root.dataset.jobId}`).then((job) => view.show(job))
    .catch((error) => view.note(`The job could not be read: ${error.message}`));
}
