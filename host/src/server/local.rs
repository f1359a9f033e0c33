//! Spin's local service chaining: a component's request to `http://<id>.spin.internal/…` is
//! served by component `<id>` in-process, through the same routing, headers and limits as a
//! request from the network, without opening a socket.

use super::App;
use super::access::Admitted;
use super::front::{json_error, whole};
use crate::router::RouteMatch;
use crate::state::{LocalResponse, LocalServices};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};

/// What `spin-client-addr` says for a call from another component.
const LOCAL_CLIENT: &str = "local";

impl App {
    /// The routed component of a local call, checked to be the one the call names.
    fn local_route(&self, id: &str, path: &str) -> Result<(usize, RouteMatch<'_>), String> {
        let index = *self
            .by_id
            .get(id)
            .ok_or_else(|| format!("the app has no component `{id}`"))?;
        let matched = self
            .router
            .route(path)
            .filter(|m| self.route_components[m.index] == index)
            .ok_or_else(|| format!("no route of component `{id}` matches {path}"))?;
        Ok((index, matched))
    }
}

impl LocalServices for App {
    fn call(&self, id: &str, request: Request<Full<Bytes>>) -> Option<LocalResponse> {
        let app = self.me.upgrade()?;
        self.by_id.get(id)?;
        let id = id.to_string();
        Some(Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = match body.collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => match e {},
            };
            let path = parts.uri.path().to_string();
            match app.local_route(&id, &path) {
                Ok((index, matched)) => {
                    let component = &app.components[index];
                    app.call_component(
                        component,
                        parts,
                        body,
                        &matched,
                        LOCAL_CLIENT,
                        Admitted::local_call(),
                    )
                    .await
                }
                Err(problem) => whole(json_error(StatusCode::NOT_FOUND, "not_found", &problem)),
            }
        }))
    }
}
